"""Reference solution of the descent assignment: training loops for (batch) gradient
descent, stochastic gradient descent and minibatch stochastic gradient descent."""
