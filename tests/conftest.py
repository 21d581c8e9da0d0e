"""Fixtures shared by several test files."""

import pytest


@pytest.fixture
def one_blas_thread():
    """Small matrix products: one BLAS thread is faster, and steady on a shared machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield
