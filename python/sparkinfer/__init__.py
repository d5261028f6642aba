"""sparkinfer's PySpark side: the generic driver (`run_job`) and `infer(df, job)`."""

from sparkinfer.api import infer
from sparkinfer.driver import run_job
from sparkinfer.errors import InputError, RuntimeFailure, SparkinferError, SpecError

__all__ = ['infer', 'run_job', 'SparkinferError', 'SpecError', 'InputError', 'RuntimeFailure']
