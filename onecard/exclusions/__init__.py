"""Subsidies that exclude each other (互斥补贴): rules recorded by the bureau, warnings at list upload, holds at
batch creation for the department's decision, and the cross-department risk check."""
