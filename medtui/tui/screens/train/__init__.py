"""The Train screen: the stage form generated from the stage specification."""
