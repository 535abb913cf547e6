"""Reference layers for gradcheck: correct NumPy, plus known-buggy variants.

Each module is a readable example of one calling convention, declared with the
gradcheck decorators.  The buggy variants reproduce bugs from real forum threads;
the test suite checks that every buggy one is caught with the right parameter
named, and that every correct one passes.

- ``affine``: functional pair with a cache; a ``db = mean`` bug.
- ``relu``: two valid sub-gradient choices at 0, and an inverted mask.
- ``softmax_loss``: a loss that returns its gradient; a missing ``/N``.
- ``mlp``: a two-layer network on an unrolled ``theta`` (sigmoid sign bug).
- ``char_rnn``: a character RNN whose BPTT reads the wrong time step.
- ``rnn``: a per-time-step recurrent layer whose ``calc_delta_k`` reads the
  wrong state and overwrites it in place (``gc.layer(steps="T")``).
- ``rnn_cell``: parameters in a dict, gradients returned as a dict.
- ``min_char_rnn``: parameters as module globals, gradients clipped.
- ``class_layers``: gradients left in attributes (``dW``, ``W_grad`` with
  ``sign=-1``, ``filters[i].weights_grad``), Python-number biases.
- ``two_layer_net``: ``model.params`` and ``model.loss(X, y)``.
"""
