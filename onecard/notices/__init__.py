"""Arrival notices (到账通知): what a notice is, who receives it on which channel, its words and its senders.

The outbox model and its state machine (``models``, ``lifecycle``), the use cases (``service``), the
texts (``texts``), the SMS senders (``senders``), the channels (``channels``: who receives a notice and
how each is sent, ``delivery``) and the delivery reports (``status``). The drainer process that claims and sends notices is the ``notifications`` door.
"""
