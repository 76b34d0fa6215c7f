"""Datasets: the zoom-world generator and benchmark row formats."""
