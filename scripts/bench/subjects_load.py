"""Load for scripts/bench/profile-subjects.sh: one subscriber on N literal
subjects (`telemetry.dev<i>.temp`) plus 1 000 wildcards (`cmd.<i>.*`), and a
publisher sending M 8-byte messages to random subjects among the N.

Usage: subjects_load.py PORT N M [SEED]. Prints SETUP_DONE once the
subscriptions are in and waits for a line on stdin, then publishes, prints
PUB_DONE once every message was delivered and waits for another line (so a
profiler can count the publishing phase alone).
"""
import socket, sys, random, time
port=int(sys.argv[1]); nsubj=int(sys.argv[2]); nmsg=int(sys.argv[3]); seed=int(sys.argv[4]) if len(sys.argv)>4 else 1
rnd=random.Random(seed)
def conn():
    s=socket.create_connection(("127.0.0.1",port)); s.settimeout(600)
    buf=b""
    while b"\r\n" not in buf: buf+=s.recv(4096)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    return s
def sync(s):
    s.sendall(b"PING\r\n"); buf=b""
    while b"PONG\r\n" not in buf:
        d=s.recv(1<<20)
        if not d: raise SystemExit("closed")
        buf=buf[-8:]+d
sub=conn(); pub=conn()
subjects=[b"telemetry.dev%d.temp" % i for i in range(nsubj)]
out=[]
for i,sj in enumerate(subjects): out.append(b"SUB %s %d\r\n" % (sj, i+1))
for i in range(1000): out.append(b"SUB cmd.%d.* %d\r\n" % (i, nsubj+i+1))
sub.sendall(b"".join(out)); sync(sub)
print("SETUP_DONE", flush=True); sys.stdin.readline()
# drain reader in chunks while publishing
msgs=[b"PUB %s 8\r\n12345678\r\n" % subjects[rnd.randrange(nsubj)] for _ in range(nmsg)]
import threading
got=[0]
def reader():
    tail=b""
    while True:
        d=sub.recv(1<<20)
        if not d: return
        # A "MSG " cut between two reads is counted once, in the second.
        d=tail+d
        got[0]+=d.count(b"MSG ")
        tail=d[-3:]
t=threading.Thread(target=reader,daemon=True); t.start()
chunk=2000
for i in range(0,nmsg,chunk):
    pub.sendall(b"".join(msgs[i:i+chunk]))
sync(pub)
deadline=time.time()+600
while got[0]<nmsg and time.time()<deadline: time.sleep(0.05)
print("PUB_DONE", got[0], flush=True); sys.stdin.readline()
