/*
 * counter [LIMIT] [DELAY_MS] (defaults 200 and 50): the smallest migratable process. No libc,
 * no TLS, no vdso use; just registers, a little .data/.bss, the initial stack and three
 * syscalls. It blocks every signal, prints "ready", then "1".."LIMIT" (one per line) with a
 * DELAY_MS nanosleep after each, and "done". The counter lives both in callee-saved %r12 and
 * in memory; they must agree after every syscall (else "FAIL counter"), and the signal mask
 * must still block everything but SIGKILL/SIGSTOP at the end (else "FAIL sigmask"). So a
 * migration that loses general registers, .bss contents, the restart of an interrupted
 * nanosleep or the signal mask shows up in the output.
 */
	.section .note.GNU-stack, "", @progbits

	.set SYS_write, 1
	.set SYS_nanosleep, 35
	.set SYS_rt_sigprocmask, 14
	.set SYS_exit_group, 231

	.data
fullmask:	.quad -1
want_mask:	.quad ~((1 << 8) | (1 << 18))	/* all but SIGKILL (9) and SIGSTOP (19) */
msg_ready:	.ascii "ready\n"
msg_done:	.ascii "done\n"
msg_fail:	.ascii "FAIL counter\n"
msg_mask:	.ascii "FAIL sigmask\n"

	.bss
	.balign 8
count:	.quad 0
ts:	.quad 0, 0		/* struct timespec for nanosleep */
oldmask: .quad 0
numbuf:	.skip 24

	.text
	.globl _start
_start:
	mov	(%rsp), %r14		/* argc */
	lea	8(%rsp), %r15		/* argv */
	mov	$200, %r13		/* LIMIT */
	mov	$50, %rbx		/* DELAY_MS */
	cmp	$2, %r14
	jb	1f
	mov	8(%r15), %rdi
	call	parse
	mov	%rax, %r13
	cmp	$3, %r14
	jb	1f
	mov	16(%r15), %rdi
	call	parse
	mov	%rax, %rbx
1:	mov	%rbx, %rax		/* ts = {DELAY_MS / 1000, DELAY_MS % 1000 * 1000000} */
	xor	%edx, %edx
	mov	$1000, %ecx
	div	%rcx
	mov	%rax, ts(%rip)
	imul	$1000000, %rdx, %rdx
	mov	%rdx, ts+8(%rip)

	mov	$SYS_rt_sigprocmask, %eax	/* rt_sigprocmask(SIG_SETMASK, &full, NULL, 8) */
	mov	$2, %edi
	lea	fullmask(%rip), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	test	%rax, %rax
	jnz	badmask

	lea	msg_ready(%rip), %rsi
	mov	$6, %edx
	call	out

	xor	%r12d, %r12d		/* i, in a callee-saved register ... */
	movq	$0, count(%rip)		/* ... and in memory */
loop:	cmp	%r13, %r12
	jae	finish
	inc	%r12
	incq	count(%rip)
	mov	%r12, %rdi
	call	putnum
	cmp	count(%rip), %r12
	jne	mismatch
	mov	$SYS_nanosleep, %eax	/* nanosleep(&ts, NULL); EINTR is harmless pacing */
	lea	ts(%rip), %rdi
	xor	%esi, %esi
	syscall
	cmp	count(%rip), %r12
	jne	mismatch
	jmp	loop

finish:	mov	$SYS_rt_sigprocmask, %eax	/* rt_sigprocmask(SIG_BLOCK, NULL, &old, 8) */
	xor	%edi, %edi
	xor	%esi, %esi
	lea	oldmask(%rip), %rdx
	mov	$8, %r10d
	syscall
	test	%rax, %rax
	jnz	badmask
	mov	oldmask(%rip), %rax
	cmp	want_mask(%rip), %rax
	jne	badmask
	lea	msg_done(%rip), %rsi
	mov	$5, %edx
	call	out
	xor	%edi, %edi
	jmp	exit

badmask:
	lea	msg_mask(%rip), %rsi
	mov	$13, %edx
	call	out
	mov	$1, %edi
	jmp	exit
mismatch:
	lea	msg_fail(%rip), %rsi
	mov	$13, %edx
	call	out
	mov	$1, %edi
exit:	mov	$SYS_exit_group, %eax
	syscall
	hlt

/* out: write(1, %rsi, %rdx); a short write or an error ends the process with status 1. */
out:	mov	$SYS_write, %eax
	mov	$1, %edi
	syscall			/* clobbers rax, rcx, r11 only */
	cmp	%rdx, %rax
	jne	1f
	ret
1:	mov	$1, %edi
	mov	$SYS_exit_group, %eax
	syscall
	hlt

/* putnum: write %rdi in decimal and a newline. */
putnum:	lea	numbuf+24(%rip), %rsi
	dec	%rsi
	movb	$'\n', (%rsi)
	mov	%rdi, %rax
	mov	$10, %ecx
1:	xor	%edx, %edx
	div	%rcx
	add	$'0', %dl
	dec	%rsi
	mov	%dl, (%rsi)
	test	%rax, %rax
	jnz	1b
	lea	numbuf+24(%rip), %rdx
	sub	%rsi, %rdx
	jmp	out

/* parse: decimal string at %rdi -> %rax (stops at the first non-digit). */
parse:	xor	%eax, %eax
1:	movzbl	(%rdi), %ecx
	sub	$'0', %ecx
	cmp	$9, %ecx
	ja	2f
	imul	$10, %rax, %rax
	add	%rcx, %rax
	inc	%rdi
	jmp	1b
2:	ret
