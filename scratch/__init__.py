"""scratch: the fundamentals of deep learning from scratch in NumPy.

Examples are columns, as in the course notes: X is (n_x, m), Y is (1, m),
W[l] is (n[l], n[l-1]), b[l] is (n[l], 1). Every backward pass is derived by hand.
This package imports NumPy (and the standard library) only, never torch.
"""
