"""Datasets: text windows (char models); more data sources arrive with their models."""
