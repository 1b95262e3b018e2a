"""The usage table's upkeep: monthly partitions made ahead, and retention."""
