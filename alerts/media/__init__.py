"""The media store: images and documents checked, cleaned and kept for items."""
