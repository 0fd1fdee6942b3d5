"""Alerts to people (工作提醒): see service."""
