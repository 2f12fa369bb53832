"""The benchmark: the gateway against references measured in the same run (`make bench`)."""
