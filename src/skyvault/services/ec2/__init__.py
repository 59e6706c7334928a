"""Amazon EC2 and EBS: instances (with their volumes) and volumes."""
