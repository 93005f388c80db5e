"""Analysis of simulation output: structure factors, lengths, correlations, clusters and growth-law fits."""
from .fk import (axis_correlation, characteristic_length, checkerboard_clusters, circular_average, f_length,
                 f_structure_factor, ising_field, ising_structure_factor, mean_cluster_size, order_parameter)
from .growth import Fit, fit_linear, fit_log, fit_loglog, fit_power_law

__all__ = ["ising_field", "order_parameter", "ising_structure_factor", "characteristic_length", "circular_average",
           "f_structure_factor", "f_length", "axis_correlation", "checkerboard_clusters", "mean_cluster_size",
           "Fit", "fit_power_law", "fit_loglog", "fit_log", "fit_linear"]
