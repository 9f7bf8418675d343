"""REON services: one package per supervised process."""
