"""medtui screens; each is constructed as XScreen(workspace, lang=...)."""
