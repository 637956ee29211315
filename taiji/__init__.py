"""Taiji, a DevOps platform for products built from microservices."""
