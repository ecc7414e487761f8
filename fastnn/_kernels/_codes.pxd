# The codes the kernels switch on, declared once: the kernels cimport them, and Python
# imports them from fastnn._kernels._codes, where each cpdef enum is an enum class whose
# member names are the user-facing names upper-cased (Activation.RELU is "relu").
# Adding an activation, a loss or an optimizer rule starts here.

cpdef enum Activation:
    LINEAR = 0
    RELU = 1
    LEAKY_RELU = 2
    TANH = 3
    SIGMOID = 4
    SELU = 5

# The output layer's loss, computed from its logits.
cpdef enum Loss:
    BINARY_CROSS_ENTROPY = 0       # sigmoid output
    CATEGORICAL_CROSS_ENTROPY = 1  # softmax output
    SQUARED_ERROR = 2              # linear output

# Optimizer update rules (fastnn.blocks.optim names them; _optim_impl.pxd applies them).
cpdef enum Rule:
    SGD = 0
    MOMENTUM = 1
    ADAM = 2
    RMSPROP = 3
    ADAMW = 4
    NESTEROV = 5

# Where a plan keeps its activations: rows-as-examples (m, n), or examples-as-columns
# (n, m) for narrow layers; AUTO lets the plan choose (see _plans.pyx: columns_pay_off).
cpdef enum Layout:
    ROWS = 0
    COLUMNS = 1
    AUTO = 2

# How a run of training epochs ended.
cpdef enum Status:
    COMPLETED = 0       # every epoch asked for was run
    DIVERGED = 1        # a cost or a weight stopped being finite: rolled back
    STOPPED_EARLY = 2   # the stopping rule fired
