"""Intelligence products: Cyber Activity Reports, their register, inbox and feedback."""
