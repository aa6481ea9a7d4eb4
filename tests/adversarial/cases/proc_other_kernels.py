# Looks through /proc for anything outside its own kernel: other students' kernels (graded at the same moment, in
# the other shard), the grader, the zygote's other children; a process of another kernel uid, another kernel's
# environment. Its pid namespace shows its own processes only, and its uid is its own (no other running kernel has it).
# base: correct
# expect: score == 8
# expect: no LEAK
# reason: processes of other kernels seen: 0
import os

me, mine = os.getpid(), os.getuid()
others = 0
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == me:
        continue
    try:
        status = dict(line.split(":", 1) for line in open(f"/proc/{entry}/status") if ":" in line)
        cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue  # gone meanwhile
    uid = int(status["Uid"].split()[0])
    if uid != mine and 200_000 <= uid < 300_000:
        others += 1
        print(f"LEAK a process of kernel uid {uid}: {cmdline[:100]}")
    elif entry != "1" and any(word in cmdline for word in ("nbgrader", "ipykernel", "autograder.jail")):
        others += 1
        print(f"LEAK another kernel or the grader: {cmdline[:100]}")
    try:
        environ = open(f"/proc/{entry}/environ", "rb").read()
        if environ and entry != "1":
            print(f"read the environment of {entry} ({cmdline[:60]})")
    except OSError:
        pass
print("processes of other kernels seen:", others, "uid", mine)
