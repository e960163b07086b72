"""Approval matrices and approval routing: who must approve an amount, in which order, and who may.

* :mod:`payor.approvals.matrix` — the matrix as plain values (bands of stages),
  the seed's defaults and the validation of a new matrix.
* :mod:`payor.approvals.models` — one ``ApprovalMatrix`` per project and its
  ``ApprovalBand`` rows.
* :mod:`payor.approvals.services` — ``approval_matrix_get`` /
  ``approval_matrix_update`` (the audited writes).
* :mod:`payor.approvals.plan` — ``approval_plan`` / ``approval_check``: which
  stages remain for an item and who may fill them (reads only).
"""
