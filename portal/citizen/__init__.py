"""The citizen blueprint: catalogue, filing, overview."""
