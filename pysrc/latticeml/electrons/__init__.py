"""electrons"""
