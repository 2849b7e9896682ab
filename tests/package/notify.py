# Listens where $NOTIFY_SOCKET points (argv[1]) as systemd would, printing each message on one line, until
# STOPPING=1 or 30 s of silence.
import os
import socket
import sys

path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(30)
while True:
    try:
        message = sock.recv(4096).decode()
    except socket.timeout:
        break
    print(message.replace("\n", " "), flush=True)
    if "STOPPING=1" in message:
        break
