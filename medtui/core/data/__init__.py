"""Datasets: the dataset_info.json registry, scanning and paged reading of data files, format detection, validation and statistics."""
