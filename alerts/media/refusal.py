"""The one error a refused upload raises: its message is shown to the uploader as it is."""


class MediaRefused(ValueError):
    """The file is not accepted; ``str(error)`` says why, without echoing the file."""
