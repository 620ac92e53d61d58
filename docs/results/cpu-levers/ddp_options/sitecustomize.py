"""DDP options for the workers of ``nmt.bench.levers``, read from the environment variable NMT_X_DDP.

A measuring aid, not part of the library: with this folder on PYTHONPATH, Python imports this file at start-up
in every process (the DDP workers included) and Lightning's ``DDPStrategy`` then gets
``gradient_as_bucket_view=True`` ("bucket"), the fp16 compression hook on the all-reduce ("fp16") and/or
``static_graph=True`` ("static"), e.g. NMT_X_DDP=bucket+fp16. See "DDP options" in ../README.md.
Options the config already gives win (``setdefault``): since conf/trainer/ddp.yaml sets
``gradient_as_bucket_view: true``, "bucket" changes nothing, and the bench's
``overrides=[trainer.strategy.gradient_as_bucket_view=false]`` measures the gradient copies.
"""

import os

_mode = os.environ.get("NMT_X_DDP", "")
if _mode:
    import pytorch_lightning.strategies.ddp as _ddp

    _orig = _ddp.DDPStrategy.__init__

    def _init(self, *args, **kwargs):
        if "bucket" in _mode:
            kwargs.setdefault("gradient_as_bucket_view", True)
        if "fp16" in _mode:
            from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

            kwargs.setdefault("ddp_comm_hook", default_hooks.fp16_compress_hook)
        if "static" in _mode:
            kwargs.setdefault("static_graph", True)
        _orig(self, *args, **kwargs)
        print(f"[ddpx] DDPStrategy kwargs: {self._ddp_kwargs} hook={self._ddp_comm_hook}", flush=True)

    _ddp.DDPStrategy.__init__ = _init
