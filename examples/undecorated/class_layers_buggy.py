"""Buggy twins of ``class_layers.py``: each overrides ``backward`` with one bug."""

import class_layers


class Affine(class_layers.Affine):
    def backward(self, dY):
        dX = super().backward(dY)
        self.dW = self.dW / self.X.shape[0]  # bug: averages a gradient whose loss is summed
        return dX


class Dense(class_layers.Dense):
    def backward(self, dout):
        dz = dout * (1 - self.out)  # bug: the derivative of tanh is 1 - tanh**2
        self.grad_W = self.x.T @ dz
        return dz @ self.W.T


class Bilinear(class_layers.Bilinear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["V"] = self.x.T @ (dout * self.a * self.c)  # bug: multiplies by both factors
        return dx


class Scale(class_layers.Scale):
    def backward(self, dout):
        dx = super().backward(dout)
        self.gradients["beta"] = dout.mean(axis=0)  # bug: mean instead of sum over the batch
        return dx


class Sigmoid(class_layers.Sigmoid):
    def backward(self, dout):
        return dout * self.out  # bug: forgets the (1 - out) factor
