"""An assignment spec: which functions each student must write, and how to check them.

    gradcheck grade --spec examples/assignment/assignment.py examples/assignment/submissions/ --jobs 2
"""

from reference import affine_forward, relu_forward

import gradcheck as gc

CHECKS = [
    gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, points=2, required=True,
            reference=affine_forward),
    gc.spec("relu", shapes={"x": "N,D"}, points=1, reference=relu_forward),
    gc.spec("softmax_loss", fn="softmax_loss", shapes={"x": "N,C"},
            args={"y": gc.labels("N", classes="C")}, dims={"C": (2, 4)}, points=1),
]
