"""The 3D CNN model package: registry, architectures, checkpoint converters."""
