"""implkit: size, specify, configure and audit amoCRM and Bitrix24 accounts as code."""

__version__ = "0.1.0"
