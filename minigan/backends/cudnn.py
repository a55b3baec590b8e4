"""``torch.backends.cudnn``'s flags for scripts (``cudnn.benchmark = True``): minigan uses no
cuDNN, so they are accepted and change nothing (the Triton backend's own switch is
``--tf32`` / ``get_backend("triton").set_tf32``)."""

benchmark = False
deterministic = False
enabled = True
allow_tf32 = False
