# Allocate without end: stopped by the memory limit (MemoryError), the kernel and the tests go on.
# base: correct
# expect: score == 8
# reason: MemoryError
hoard = []
while True:
    hoard.append(bytearray(256 * 2**20))
