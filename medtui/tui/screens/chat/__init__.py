"""The Chat screen: one or two chat panes, each driving a model in a worker process."""
