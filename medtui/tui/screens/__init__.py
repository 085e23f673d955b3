"""medtui's Textual screens, one module per screen."""
