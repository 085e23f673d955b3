"""Chat with a model in a separate worker process (``python -m medtui.workers.chat``).

``protocol`` defines the JSON-lines messages, ``worker`` runs llamafactory's ChatModel,
``client`` drives a worker from plain Python (no torch), ``models`` resolves what to load,
``transcript`` keeps and saves a conversation and ``verify`` loads a model and generates a
few tokens to prove an export works.
"""
