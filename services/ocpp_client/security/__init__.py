"""Security events (functional block A, A04): SecurityEventNotification through the durable queue, and
the device model's critical-event rule (events).
"""
