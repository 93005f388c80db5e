"""Input and output: YAML configs and their validation, HDF5 trajectories, atomic checkpoints, run directories."""
from .checkpoint import load_checkpoint, save_checkpoint
from .config import load_config, validate_config
from .hdf5 import TrajectoryObserver, TrajectoryWriter, read_trajectory
from .run import resume, simulate

__all__ = ["load_config", "validate_config", "save_checkpoint", "load_checkpoint", "TrajectoryWriter",
           "TrajectoryObserver", "read_trajectory", "simulate", "resume"]
