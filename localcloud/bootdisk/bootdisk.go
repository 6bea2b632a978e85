// Package bootdisk builds tiny raw disk images that really boot under QEMU
// (TCG or KVM): a 512-byte x86 boot sector that writes a known line to the
// first serial port (COM1) and halts. `canopy dev` bootstraps its images from
// it, so the same images prove a real boot on KVM hosts: the console-output
// API shows the line only if guest code actually ran.
package bootdisk

import (
	"errors"
	"fmt"
)

// SectorSize is the size of the boot sector.
const SectorSize = 512

// DefaultSize is the size of a generated disk (1 MiB, a whole number of
// sectors that every hypervisor accepts as a raw disk).
const DefaultSize = 1 << 20

// Line returns the line a disk made with Build(tag) prints: "CANOPY-BOOT-OK <tag>".
func Line(tag string) string { return "CANOPY-BOOT-OK " + tag }

// code is the hand-assembled 16-bit real-mode program, loaded at 0x7C00:
//
//	00 FA          cli
//	01 31 C0       xor  ax, ax
//	03 8E D8       mov  ds, ax
//	05 BE 16 7C    mov  si, 0x7C16        ; the message, right after the code
//	08 BA F8 03    mov  dx, 0x3F8         ; COM1 data port
//	0B AC          lodsb                  ; loop:
//	0C 84 C0       test al, al
//	0E 74 03       jz   done
//	10 EE          out  dx, al
//	11 EB F8       jmp  loop
//	13 F4          hlt                    ; done:
//	14 EB FD       jmp  done
var code = []byte{
	0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x16, 0x7C, 0xBA, 0xF8, 0x03,
	0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8, 0xF4, 0xEB, 0xFD,
}

// Build returns a raw disk of size bytes (a multiple of 512, at least 512)
// whose boot sector prints Line(tag) followed by CRLF on COM1.
func Build(tag string, size int) ([]byte, error) {
	if size < SectorSize || size%SectorSize != 0 {
		return nil, fmt.Errorf("bootdisk: size %d is not a positive multiple of %d", size, SectorSize)
	}
	msg := "\r\n" + Line(tag) + "\r\n"
	if len(code)+len(msg)+1 > SectorSize-2 {
		return nil, errors.New("bootdisk: tag too long for one boot sector")
	}
	for _, c := range []byte(msg) {
		if c == 0 {
			return nil, errors.New("bootdisk: tag contains a NUL byte")
		}
	}
	disk := make([]byte, size)
	n := copy(disk, code)
	copy(disk[n:], msg) // the NUL terminator is the zero padding after it
	disk[510], disk[511] = 0x55, 0xAA
	return disk, nil
}

// DisksLine returns the line a disk made with BuildDiskCounter(tag) prints
// when the guest's PCI bus holds n virtio disks:
// "CANOPY-BOOT-OK <tag> virtio-disks=<n>".
func DisksLine(tag string, n int) string { return fmt.Sprintf("%s virtio-disks=%d", Line(tag), n) }

// counterCode is a boot sector that counts the virtio-blk devices (PCI
// vendor 1AF4, device 1001) on PCI bus 0 through the configuration ports
// and prints the count as one digit in its message: guest code that proves
// the guest sees a disk the host attached. The BIOS is not asked: under
// libvirt's strict boot order SeaBIOS maps only the boot disk.
//
//	00 31 C0             xor  ax, ax
//	02 8E D8             mov  ds, ax
//	04 31 DB             xor  bx, bx              ; bx counts
//	06 66 B9 00000080    mov  ecx, 0x80000000     ; bus 0, device 0, register 0
//	0C 66 89 C8          mov  eax, ecx            ; next:
//	0F BA F8 0C          mov  dx, 0xCF8
//	12 66 EF             out  dx, eax
//	14 B2 FC             mov  dl, 0xFC            ; dx = 0xCFC
//	16 66 ED             in   eax, dx             ; device << 16 | vendor
//	18 66 3D F41A0110    cmp  eax, 0x10011AF4
//	1E 75 01             jne  skip
//	20 43                inc  bx
//	21 66 81 C1 00080000 add  ecx, 0x800          ; skip: the next device
//	28 66 81 F9 00000180 cmp  ecx, 0x80010000     ; after device 31
//	2F 75 DB             jne  next
//	31 80 C3 30          add  bl, '0'
//	34 88 1E xx xx       mov  [digit], bl         ; patched into the message
//	38 FA                cli
//	39 BE xx xx          mov  si, message
//	3C BA F8 03          mov  dx, 0x3F8           ; COM1
//	3F AC                lodsb                    ; loop:
//	40 84 C0             test al, al
//	42 74 03             jz   done
//	44 EE                out  dx, al
//	45 EB F8             jmp  loop
//	47 F4                hlt                      ; done:
//	48 EB FD             jmp  done
var counterCode = []byte{
	0x31, 0xC0, 0x8E, 0xD8, 0x31, 0xDB, 0x66, 0xB9, 0x00, 0x00, 0x00, 0x80,
	0x66, 0x89, 0xC8, 0xBA, 0xF8, 0x0C, 0x66, 0xEF, 0xB2, 0xFC, 0x66, 0xED,
	0x66, 0x3D, 0xF4, 0x1A, 0x01, 0x10, 0x75, 0x01, 0x43,
	0x66, 0x81, 0xC1, 0x00, 0x08, 0x00, 0x00, 0x66, 0x81, 0xF9, 0x00, 0x00, 0x01, 0x80,
	0x75, 0xDB, 0x80, 0xC3, 0x30, 0x88, 0x1E, 0x00, 0x00, 0xFA,
	0xBE, 0x00, 0x00, 0xBA, 0xF8, 0x03, 0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE,
	0xEB, 0xF8, 0xF4, 0xEB, 0xFD,
}

// BuildDiskCounter returns a raw disk of size bytes whose boot sector prints
// DisksLine(tag, n) followed by CRLF on COM1, n being the number of virtio
// disks on the guest's PCI bus 0 (0-9) when it boots.
func BuildDiskCounter(tag string, size int) ([]byte, error) {
	disk, err := Build(tag, size) // validates size and tag, signs the sector
	if err != nil {
		return nil, err
	}
	msg := "\r\n" + Line(tag) + " virtio-disks=?\r\n"
	if len(counterCode)+len(msg)+1 > SectorSize-2 {
		return nil, errors.New("bootdisk: tag too long for one boot sector")
	}
	clear(disk[:SectorSize-2])
	n := copy(disk, counterCode)
	copy(disk[n:], msg)
	at := func(off, addr int) { disk[off], disk[off+1] = byte(addr), byte(addr>>8) }
	at(0x36, 0x7C00+n+len(msg)-3) // the '?' before CRLF
	at(0x3A, 0x7C00+n)
	return disk, nil
}
