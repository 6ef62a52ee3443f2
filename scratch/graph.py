"""The course's computation graph (F09): J(a, b, c) = 3(a + bc), step by step.

Forward, left to right:   u = b c,   v = a + u,   J = 3 v.
Backward, right to left, by the chain rule (each local derivative times the one downstream):
    dJ/dv = 3
    dJ/du = dJ/dv · dv/du = 3 · 1 = 3
    dJ/da = dJ/dv · dv/da = 3 · 1 = 3
    dJ/db = dJ/du · du/db = 3 · c
    dJ/dc = dJ/du · du/dc = 3 · b
"""
from ._checks import check_real


def graph_forward(a, b, c):
    """Forward values of J = 3(a + bc): returns {"u": bc, "v": a + u, "J": 3v} (floats)."""
    a, b, c = (check_real(name, x) for name, x in (("a", a), ("b", b), ("c", c)))
    u = b * c
    v = a + u
    J = 3 * v
    return {"u": u, "v": v, "J": J}


def graph_backward(a, b, c):
    """Backward pass of J = 3(a + bc): returns {"dJ/dv", "dJ/du", "dJ/da", "dJ/db", "dJ/dc"}
    = {3, 3, 3, 3c, 3b}, each the product of local derivatives along its path (floats)."""
    a, b, c = (check_real(name, x) for name, x in (("a", a), ("b", b), ("c", c)))
    dJ_dv = 3.0                 # J = 3v
    dJ_du = dJ_dv * 1.0         # v = a + u  ->  dv/du = 1
    dJ_da = dJ_dv * 1.0         # v = a + u  ->  dv/da = 1
    dJ_db = dJ_du * c           # u = bc     ->  du/db = c
    dJ_dc = dJ_du * b           # u = bc     ->  du/dc = b
    return {"dJ/dv": dJ_dv, "dJ/du": dJ_du, "dJ/da": dJ_da, "dJ/db": dJ_db, "dJ/dc": dJ_dc}
