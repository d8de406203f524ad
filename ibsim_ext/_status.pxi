# The preamble every kernel module shares (``include "_status.pxi"``): the
# kernel status codes, which common.h owns (one list for every kernel), as the
# module's STATUS_* constants for ibsim.estimators.kernels.

cdef extern from "common.h":
    enum ib_status:
        IB_OK, IB_NONFINITE, IB_CODE_OVERFLOW, IB_NO_MEMORY

#: The kernel status codes (common.h owns them).
STATUS_OK, STATUS_NONFINITE, STATUS_CODE_OVERFLOW, STATUS_NO_MEMORY = IB_OK, IB_NONFINITE, IB_CODE_OVERFLOW, IB_NO_MEMORY
