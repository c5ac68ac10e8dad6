"""optviz: watch SGD, Momentum, Adam and friends race on test surfaces and on real MNIST."""
