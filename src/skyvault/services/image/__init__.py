"""Raw disk images (VM disks): backup into the library, incremental against the previous recovery point, and
byte-identical restore to a file (sparse where blocks are zero). Makes no AWS calls."""

from skyvault.services.image.backup import ImageBackupResult, backup_image
from skyvault.services.image.restore import restore_image

__all__ = ["ImageBackupResult", "backup_image", "restore_image"]
