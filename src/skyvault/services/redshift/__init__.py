"""Amazon Redshift provisioned clusters."""
