"""The plain parts the engine runs and the model is made of, one home each: names and
their kernel codes, initializers, output layers and their targets, optimizers,
regularization, the dropout randomness, the History record and the callback protocol,
argument checks, thread control."""
