import { ApiProperty } from '@nestjs/swagger';

export class DevToken {
  @ApiProperty({ example: 'guest-1a2b3c' }) userId!: string;
  @ApiProperty() token!: string;
  @ApiProperty({ example: 3600 }) expiresInSeconds!: number;
}
