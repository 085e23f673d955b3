"""The Datasets screen: registry list, paged preview, record editor, validation and statistics."""
