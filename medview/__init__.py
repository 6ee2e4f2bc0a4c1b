"""medview: browse, label and classify 2D images and 3D medical volumes."""

__version__ = "0.1.0"
